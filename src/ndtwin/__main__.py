from ndtwin.cli.main import app

app()
