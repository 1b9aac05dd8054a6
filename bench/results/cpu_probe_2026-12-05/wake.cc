#include <omp.h>
#include <time.h>
#include <unistd.h>
#include <cstdio>
#include <vector>
#include <algorithm>
static double now(){timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
int main(){
  for (int pause_ms : {0, 1, 10, 50}) {
    std::vector<double> v;
    for(int r=0;r<30;++r){
      if (pause_ms) usleep(pause_ms*1000);
      double t0=now(); double t1=0;
      #pragma omp parallel num_threads(2)
      { if(omp_get_thread_num()==1){} }
      t1=now(); v.push_back((t1-t0)*1e6);
    }
    std::sort(v.begin(),v.end());
    printf("pause %d ms: region us min %.1f med %.1f p90 %.1f\n",pause_ms,v[0],v[15],v[27]);
  }
}
