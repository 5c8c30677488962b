/*
 * unit.h - the common main() of every Check unit test.
 *
 * Each test file defines its cases and a suite; UNIT_MAIN runs it without
 * forking (so ASan sees leaks) and reports in TAP on stdout, which
 * automake's TAP driver counts case by case.
 */
#ifndef STRATUS_TESTS_UNIT_H
#define STRATUS_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

#define UNIT_MAIN(make_suite)                                       \
	int main(void)                                              \
	{                                                           \
		SRunner *sr = srunner_create(make_suite());         \
		int failed;                                         \
		srunner_set_fork_status(sr, CK_NOFORK);             \
		srunner_set_tap(sr, "-");                           \
		srunner_run_all(sr, CK_SILENT);                     \
		failed = srunner_ntests_failed(sr);                 \
		srunner_free(sr);                                   \
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;   \
	}

#endif
