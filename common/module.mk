# Shared by every part: bounded buffer, error table, base64url/hex, wiping, time.
COMMON_SRCS := common/buf.c common/error.c common/util.c
LIBMCXCOMMON := $(B)/libmcxcommon.a
LIBRARIES += $(LIBMCXCOMMON)
$(LIBMCXCOMMON): $(call objs,$(COMMON_SRCS))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
