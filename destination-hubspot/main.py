from destination_hubspot.run import run

if __name__ == "__main__":
    run()
