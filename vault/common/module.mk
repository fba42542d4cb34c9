# Shared by every part: bounded buffer, error table, base64url/hex, wiping, time.
COMMON_SRCS := vault/common/buf.c vault/common/error.c vault/common/util.c
LIBMCXCOMMON := $(B)/libmcxcommon.a
LIBRARIES += $(LIBMCXCOMMON)
$(LIBMCXCOMMON): $(call objs,$(COMMON_SRCS))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
