"""The risk officer's and auditor's workspace inside the Django admin (issue 12).

The admin stays the shell (its login, permissions and navigation); this package adds the
dashboard (the admin's index page), the version hub, comparisons, trends and the audit page. Views
read through selectors and change state only through the domain services, as the API does.
"""
