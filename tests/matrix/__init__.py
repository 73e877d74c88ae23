"""The server x framework matrix (issue 4 items 4-5); see docs/compatibility.md."""
