/* tests/unit/test_files.h - small file helpers the unit tests share (certificates made by the
 *   openssl CLI into a temporary directory, read back as text). Failures fail the test (cmocka
 *   assertions): include after <cmocka.h>'s prerequisites. */
#ifndef GAAPD_TEST_FILES_H
#define GAAPD_TEST_FILES_H

/* The whole of dir/name, NUL-terminated (the caller frees). */
char *tf_slurp(const char *dir, const char *name);
/* Runs the formatted shell command; it must succeed. */
void tf_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
