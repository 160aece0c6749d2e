"""The classroom: quizzes generated from the engine, state diffs between two moments of a
session, and the pieces of the served (browser) classroom. No Textual here."""
