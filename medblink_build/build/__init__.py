"""Running a build: items through workers and executors into one output, resumably."""
