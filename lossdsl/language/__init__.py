"""The language: source text, diagnostics, the grammar's parser, node kinds and the Formula built from a parse."""
