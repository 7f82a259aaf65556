"""Cases in from the hotline platforms: a platform's sheet mapped, previewed and imported
whole, and the push API platforms call. Above repeats: each row's likely repeats are shown
before anything is written."""
