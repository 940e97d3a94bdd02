"""Single sign-on per customer through the customer's own OpenID Connect provider."""
