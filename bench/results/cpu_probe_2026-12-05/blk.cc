#include <cblas.h>
#include <time.h>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <random>
static double now(){timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+1e-9*t.tv_nsec;}
int main(int argc,char**argv){
  int n=atoi(argv[1]), k=atoi(argv[2]), reps=atoi(argv[3]);
  std::vector<float> a((size_t)n*k), c((size_t)n*n);
  std::mt19937 g(1); std::normal_distribution<float> nd;
  for(auto&v:a) v=nd(g);
  for(int nb : {1,2,3,4}){
    int bs=(n+nb-1)/nb;
    double best=1e9;
    for(int t=0;t<5;++t){
      double t0=now();
      for(int r=0;r<reps;++r){
        for(int bi=0;bi<nb;++bi){ int i0=bi*bs, mi=std::min(bs,n-i0);
          cblas_ssyrk(CblasRowMajor,CblasUpper,CblasTrans,mi,k,1.f,a.data()+i0,n,0.f,c.data()+i0*n+i0,n);
          for(int bj=bi+1;bj<nb;++bj){ int j0=bj*bs, mj=std::min(bs,n-j0);
            cblas_sgemm(CblasRowMajor,CblasTrans,CblasNoTrans,mi,mj,k,1.f,a.data()+i0,n,a.data()+j0,n,0.f,c.data()+i0*n+j0,n);}
        }
      }
      double dt=now()-t0; if(dt<best)best=dt;
    }
    printf("blocks %d: %.2f ms\n",nb,best*1e3);
  }
}
