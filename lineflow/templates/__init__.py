"""Files `lineflow init` copies into a new project (package data: project/)."""
