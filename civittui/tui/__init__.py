"""The full-screen Textual app (`civittui` with no subcommand).

Only this package imports Textual; it renders engine events and calls engine commands.
"""
