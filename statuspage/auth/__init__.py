"""Team accounts: sign-in with throttling and lockout (`throttle`), the second factor (`two_factor`), and
the console views for both (`views`)."""
