#include <omp.h>
#include <time.h>
#include <unistd.h>
#include <cstdio>
#include <vector>
#include <algorithm>
static double now(){timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
int main(){
  std::vector<float> a(1<<20, 1.0f);
  for (int pause_ms : {0, 10, 50}) {
    std::vector<double> v, s;
    for(int r=0;r<30;++r){
      if (pause_ms) usleep(pause_ms*1000);
      double t0=now(); double start1=0;
      #pragma omp parallel num_threads(2)
      { if(omp_get_thread_num()==1) start1=now();
        float acc=0; int t=omp_get_thread_num();
        for(int rep=0;rep<4;++rep) for(size_t i=t*(a.size()/2);i<(t+1)*(a.size()/2);++i) acc+=a[i]*a[i];
        if(acc<0) printf("x"); }
      double t1=now(); v.push_back((t1-t0)*1e6); s.push_back((start1-t0)*1e6);
    }
    std::sort(v.begin(),v.end()); std::sort(s.begin(),s.end());
    printf("pause %d ms: region us med %.1f p90 %.1f | worker start med %.1f p90 %.1f\n",pause_ms,v[15],v[27],s[15],s[27]);
  }
}
