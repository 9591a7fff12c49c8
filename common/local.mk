# common/: knows no feature; used by master and worker alike.
libportico_a_SOURCES += \
	common/pt.h
libportico_a_SOURCES += \
	common/units.c common/units.h \
	common/log.c common/log.h \
	common/proctitle.c common/proctitle.h \
	common/syslog.c common/syslog.h \
	common/arena.c common/arena.h \
	common/str.c common/str.h \
	common/clock.c common/clock.h \
	common/heap.c common/heap.h \
	common/hash.c common/hash.h \
	common/sock.c common/sock.h \
	common/shmtx.c common/shmtx.h \
	common/slab.c common/slab.h \
	common/shm.c common/shm.h
libportico_a_SOURCES += common/conf.c common/conf.h common/buf.c common/buf.h \
	common/mem.c common/mem.h
# addresses, CIDR networks and allow/deny lists (address rules, trusted proxies)
libportico_a_SOURCES += common/cidr.c common/cidr.h
