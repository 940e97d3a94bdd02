"""Access tokens for integrations: a customer's own software working as one membership."""
