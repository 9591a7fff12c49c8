# master/: process management; never touches traffic. main.c is in Makefile.am.
libportico_a_SOURCES += \
	master/conf_load.c master/conf_load.h master/conf_include.c \
	master/daemon.c master/daemon.h \
	master/listen.c master/listen.h master/listen_probe.c master/conf_env.c \
	master/master.c master/master.h
