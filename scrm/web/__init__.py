"""Web plumbing shared by every blueprint: errors, auth, health, the console's shell pages."""
