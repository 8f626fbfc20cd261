from source_warehouse_model.run import run

if __name__ == "__main__":
    run()
