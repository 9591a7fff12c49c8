portico_confdir = $(sysconfdir)/portico
dist_portico_conf_DATA = etc/portico.conf
EXTRA_DIST += etc/portico.service etc/examples

# The log and pid directories a packaged daemon expects to find.
install-data-local:
	$(MKDIR_P) $(DESTDIR)$(localstatedir)/log/portico $(DESTDIR)$(runstatedir)
