# The manual pages, made at build time by man/mkman.sh from man/PAGE.in,
# the built programs' --help and docs/operator.md's key tables; the bash
# completion (contrib/bash-completion/keten) reads the programs' --help
# when it runs.  Included by the Makefile after its `all:` rule (a rule
# here must not become the default goal); uses BUILD, BIN, Q, say, PREFIX.

MAN_PAGES := $(BUILD)/man/keten.1 $(BUILD)/man/keten-broker.8 $(BUILD)/man/keten-agent.8 \
             $(BUILD)/man/keten.yaml.5

.PHONY: man install-man
man: $(MAN_PAGES)

$(BUILD)/man/keten.1: $(BIN)/keten
$(BUILD)/man/keten-broker.8: $(BIN)/keten-broker $(BIN)/keten
$(BUILD)/man/keten-agent.8: $(BIN)/keten-agent $(BIN)/keten
$(BUILD)/man/keten.yaml.5: docs/operator.md $(BIN)/keten
$(MAN_PAGES): $(BUILD)/man/%: man/%.in man/mkman.sh man/mkman.awk
	$(call say,MAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)man/mkman.sh $* $(BIN) docs/operator.md >$@.tmp && mv $@.tmp $@

# installs what `make man` made (run it first, as yourself); the completion
# is loaded on demand by bash-completion, for each program by its name
install-man:
	@test -f $(BUILD)/man/keten.1 || { echo "run make man first"; exit 1; }
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
	  $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 $(BUILD)/man/keten.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(BUILD)/man/keten.yaml.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 $(BUILD)/man/keten-broker.8 $(BUILD)/man/keten-agent.8 \
	  $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 contrib/bash-completion/keten \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/keten
	ln -sf keten $(DESTDIR)$(PREFIX)/share/bash-completion/completions/keten-broker
	ln -sf keten $(DESTDIR)$(PREFIX)/share/bash-completion/completions/keten-agent
