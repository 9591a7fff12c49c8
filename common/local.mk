# common/: knows no feature; used by master and worker alike.
libportico_a_SOURCES += \
	common/pt.h
libportico_a_SOURCES += \
	common/units.c common/units.h \
	common/log.c common/log.h \
	common/arena.c common/arena.h
