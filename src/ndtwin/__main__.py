from ndtwin.cli.main import app

if __name__ == "__main__":  # spawned worker processes re-import the main module
    app()
