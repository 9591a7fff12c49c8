# worker/: serves traffic. Its directive tables run in the master at load time.

# HTTP wire format: parser, chunked coding, URI normalisation
libportico_a_SOURCES += worker/http_parse.c worker/http_parse.h worker/uri.c worker/uri.h
libportico_a_SOURCES += worker/http_chunked.c worker/http_chunked.h

