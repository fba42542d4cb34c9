# The HSM layer: the only code that includes PKCS#11 headers.
HSM_SRCS := $(wildcard pkcs11/*.c)
LIBMCXHSM := $(B)/libmcxhsm.a
LIBRARIES += $(LIBMCXHSM)
$(LIBMCXHSM): $(call objs,$(HSM_SRCS))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
