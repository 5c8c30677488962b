/*
 * eventfd.h - how a thread pokes an event loop.
 *
 * Every loop here (an HTTP worker, the shared transfer engine) keeps a
 * non-blocking eventfd in its epoll set. A poke adds one to the counter;
 * a counter already full (EAGAIN) still reads as a poke, so that is no
 * failure. The loop clears it, so that the level-triggered set goes quiet.
 */
#ifndef STRATUS_CORE_EVENTFD_H
#define STRATUS_CORE_EVENTFD_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

static inline int
st_eventfd_new(void)
{
	return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

static inline void
st_eventfd_poke(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		perror("stratusd: eventfd");
}

static inline void
st_eventfd_clear(int fd)
{
	uint64_t count;

	while (read(fd, &count, sizeof(count)) > 0)
		;
}

#endif
