# The memcheck flags of the valgrind stage (sourced): tests/lib.sh runs every
# distconvd with them, scripts/stages.sh's pre-flight runs `distconvd
# --version` with them. One list, so the pre-flight asks valgrind exactly
# what the stage will. The suppressions and --log-file are added by each.
DCV_VALGRIND_FLAGS="-q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
  --show-leak-kinds=definite --num-callers=30"
