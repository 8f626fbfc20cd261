from destination_webhook.run import run

if __name__ == "__main__":
    run()
