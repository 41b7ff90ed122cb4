"""Sign-up, sign-in, the second step at sign-in and in recovery, sessions, passwords."""
