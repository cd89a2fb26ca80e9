"""The school directory: schools, classes, people, and the circle of trust."""
