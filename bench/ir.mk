# ir_sign: the direct-signing baseline of bench/ir.sh (make bench-ir).
#
# SPDX-License-Identifier: Apache-2.0
IR_SIGN := $(B)/bench/ir_sign
EXTRA_TARGETS += $(IR_SIGN)

$(IR_SIGN): $(call objs,bench/ir_sign.c) $(LIBMCXHSM) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
