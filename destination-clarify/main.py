from destination_clarify.run import run

if __name__ == "__main__":
    run()
