/*
 * answer.c - the provider-neutral reading of answers.
 *
 * Statuses map as the API's error table says: 304, 404, 409, 412, 413 and
 * 416 mean what they say; the provider's refusal of our credentials is
 * 403, its throttling and 5xx are 503 (retried before they get here), its
 * timeouts 504, and anything we did not expect from it (400 included:
 * our request was wrong) is 502.
 *
 * Times are UTC in both formats. The IMF-fixdate that every provider
 * sends in Last-Modified ("Sun, 06 Nov 1994 08:49:37 GMT") is read by
 * hand, since strptime spends a hundred string compares on the names of
 * days and months, on every answer; any other spelling goes to strptime
 * and timegm, and a fraction of a second after ISO 8601's seconds is
 * ignored.
 *
 * Reading an answer's body (keeping it, finding its code, retrying) is
 * the provider-call engine's (pcall.c).
 */
#include <string.h>

#include "core/answer.h"

enum st_status
st_answer_map(const struct st_answer_code *t, size_t n, long status,
              const char *code)
{
	size_t i;

	for (i = 0; code != NULL && i < n; i++)
		if (strcmp(code, t[i].code) == 0)
			return t[i].status;
	return st_answer_status(status);
}

enum st_status
st_answer_status(long status)
{
	switch (status) {
	case 304: return ST_NOT_MODIFIED;
	case 400: return ST_PROVIDER_ERROR;
	case 401: case 403: return ST_FORBIDDEN;
	case 404: return ST_NOT_FOUND;
	case 409: return ST_CONFLICT;
	case 412: return ST_PRECONDITION;
	case 413: return ST_TOO_LARGE;
	case 416: return ST_RANGE;
	case 408: case 504: return ST_TIMEOUT;
	case 429: case 500: case 502: case 503: return ST_UNAVAILABLE;
	default: return ST_PROVIDER_ERROR;
	}
}

/* Two digits at s, or -1. */
static int
two_digits(const char *s)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar. */
static long
days_from_civil(long y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" exactly, or -1. */
static time_t
imf_fixdate(const char *s)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *hit;
	int day, mon, hh, mm, ss, y1, y2;

	if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' ||
	    s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
	    strcmp(s + 25, " GMT") != 0)
		return -1;
	hit = strstr(days, (char[]){ s[0], s[1], s[2], '\0' });
	if (hit == NULL || (hit - days) % 3 != 0)
		return -1;
	hit = strstr(months, (char[]){ s[8], s[9], s[10], '\0' });
	if (hit == NULL || (hit - months) % 3 != 0)
		return -1;
	mon = (int)(hit - months) / 3 + 1;
	day = two_digits(s + 5);
	y1 = two_digits(s + 12);
	y2 = two_digits(s + 14);
	hh = two_digits(s + 17);
	mm = two_digits(s + 20);
	ss = two_digits(s + 23);
	if (day < 1 || day > 31 || y1 < 0 || y2 < 0 || hh < 0 || hh > 23 ||
	    mm < 0 || mm > 59 || ss < 0 || ss > 60)
		return -1;
	return (time_t)days_from_civil(y1 * 100 + y2, mon, day) * 86400 +
	    hh * 3600 + mm * 60 + ss;
}

time_t
st_answer_time(const char *s)
{
	struct tm tm;
	time_t t;

	if (s == NULL)
		return 0;
	if ((t = imf_fixdate(s)) != -1)
		return t;
	memset(&tm, 0, sizeof(tm));
	if (strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL ||
	    strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) != NULL)
		return timegm(&tm);
	return 0;
}
