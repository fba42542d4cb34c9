# Unit tests of the shared code and of the configuration loader.
$(B)/tests/test_unit_common: $(call objs,tests/unit/test_common.c) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
$(B)/tests/test_unit_config: $(call objs,tests/unit/test_config.c) $(LIBMCXVAULTD) $(LIBMCXHSM) $(LIBMCXCRYPTO) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
TEST_PROGRAMS += $(B)/tests/test_unit_common $(B)/tests/test_unit_config
