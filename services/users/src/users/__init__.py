"""The users service: profiles, e-mail uniqueness, and the user events."""
