EXTRA_DIST += bench
