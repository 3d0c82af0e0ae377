"""Download engines behind one interface (`base.Downloader`), chosen by name."""
