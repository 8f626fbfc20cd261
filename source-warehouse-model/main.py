from source_warehouse_model.run import main

if __name__ == "__main__":
    main()
