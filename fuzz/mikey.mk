# fuzz/mikey.mk: libFuzzer target for the MIKEY-SAKKE I_MESSAGE parser.
# Defined only when clang is installed; never part of `make` / build-all.
#   make fuzz-mikey                      build $(B)/fuzz/fuzz_mikey and its seed corpus
#   make fuzz-mikey-run FUZZ_SECONDS=60  run it on the seed (the published message)
# SPDX-License-Identifier: Apache-2.0
FUZZ_CLANG := $(shell command -v clang 2>/dev/null)
ifneq ($(FUZZ_CLANG),)
FUZZ_MIKEY := $(B)/fuzz/fuzz_mikey
FUZZ_MIKEY_CORPUS := $(B)/fuzz/mikey-corpus
FUZZ_SECONDS ?= 60
# Only the parser side is compiled by clang with coverage + sanitizers; the
# rest (SAKKE, ECCSI, error table) comes from the ordinary $(B) libraries, whose
# mikey.o/buf.o members the linker then leaves out.
FUZZ_MIKEY_SRCS := fuzz/fuzz_mikey.c crypto/mikey.c crypto/internal.c common/buf.c

fuzz-mikey: $(FUZZ_MIKEY) $(FUZZ_MIKEY_CORPUS)/published

$(FUZZ_MIKEY): $(FUZZ_MIKEY_SRCS) include/mcx/mikey.h $(LIBMCXCRYPTO) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) -std=c11 -g -O1 -Iinclude -I. -D_GNU_SOURCE \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -o $@ $(FUZZ_MIKEY_SRCS) $(LIBMCXCRYPTO) $(LIBMCXCOMMON) $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto) -lpthread

# The seed: the published 701-octet GMK I_MESSAGE, taken from the test vectors.
$(FUZZ_MIKEY_CORPUS)/published: tests/mikey/vectors.h
	@mkdir -p $(dir $@)
	python3 -c 'import re,sys; t=open("tests/mikey/vectors.h").read(); \
	  h="".join(re.findall(r"\"([0-9A-Fa-f]+)\"", t.split("SW_I_MESSAGE[] =")[1].split(";")[0])); \
	  open(sys.argv[1],"wb").write(bytes.fromhex(h))' $@

fuzz-mikey-run: fuzz-mikey
	$(FUZZ_MIKEY) -max_total_time=$(FUZZ_SECONDS) -max_len=8192 $(FUZZ_MIKEY_CORPUS)
else
fuzz-mikey fuzz-mikey-run:
	@echo "fuzz-mikey: clang not found; install clang to build the libFuzzer target"
endif
.PHONY: fuzz-mikey fuzz-mikey-run
