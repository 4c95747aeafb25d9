/* The smallest MPI program: MPI_Init and MPI_Finalize. bench/startup.sh times it under
 * mpirun to separate what Open MPI's start-up costs from what ddpc adds on top. */
#include <mpi.h>

int main(int argc, char **argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) return 1;
  return MPI_Finalize() == MPI_SUCCESS ? 0 : 1;
}
