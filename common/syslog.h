/*
 * syslog.h: RFC 5424 messages over a local datagram socket (/dev/log, or
 * journald's and rsyslog's sockets), never blocking: a message the socket
 * has no room for is dropped and counted, not waited for.
 */
#ifndef PT_SYSLOG_H
#define PT_SYSLOG_H

#include "common/pt.h"

#define PT_SYSLOG_DEFAULT   "/dev/log"

/* Facilities (RFC 5424 §6.2.1) by name: "daemon", "local0".."local7",
 * "user"; -1 for another name. */
int pt_syslog_facility(const char *name);

/* A non-blocking AF_UNIX datagram socket connected to path, or -1 with
 * errno set. */
int pt_syslog_connect(const char *path);

/* Write the RFC 5424 header for one message into out (at least 256 bytes):
 * "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - ". Returns its length. */
size_t pt_syslog_header(char *out, int facility, int severity, const char *app, long pid,
                        const char *msgid);

/* Send one message on fd (reconnecting to path once if the listener was
 * restarted). PT_OK, or PT_ERROR when it was dropped (*dropped counts). */
int pt_syslog_send(int *fd, const char *path, const char *msg, size_t len,
                   uint64_t *dropped);

#endif
