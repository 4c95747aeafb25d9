# Runs one fuzzer for CTest (tests/fuzz/CMakeLists.txt): copies its seed corpus SEEDS into
# WORK/corpus (kept between runs, so what one run found seeds the next; the source tree is
# never written), runs FUZZER ARGS... on it with crash files in WORK/, and fails on any
# finding, naming the file that reproduces it.
#   cmake -DFUZZER=... -DSEEDS=... -DWORK=... -DARGS="-max_total_time=60;..." -P run_fuzzer.cmake
foreach(var FUZZER SEEDS WORK ARGS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: -D${var}=... is required")
  endif()
endforeach()
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/findings)
if(IS_DIRECTORY ${SEEDS})
  file(COPY ${SEEDS}/ DESTINATION ${WORK}/corpus)
endif()
execute_process(COMMAND ${FUZZER} ${ARGS} -artifact_prefix=${WORK}/findings/ ${WORK}/corpus
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB findings ${WORK}/findings/*)
  message(FATAL_ERROR "${FUZZER} exited with ${rc}: a finding. Reproduce it with\n"
                      "  ${FUZZER} FILE\nfor FILE in: ${findings}")
endif()
