"""The repeat-complaint list and the links between complaints."""
