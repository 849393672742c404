"""The read-side core: what is published and where it lives, independent of the web app."""
