"""The school admins' console: people, classes, codes and letters, imports with a preview."""
