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
  for(int variant=0;variant<6;++variant){
    double best=1e9;
    for(int t=0;t<5;++t){
      double t0=now();
      for(int r=0;r<reps;++r){
        switch(variant){
          case 0: cblas_ssyrk(CblasRowMajor,CblasUpper,CblasTrans,n,k,1.f,a.data(),n,0.f,c.data(),n);break; // a is k x n (transposed tile)
          case 1: cblas_ssyrk(CblasRowMajor,CblasUpper,CblasNoTrans,n,k,1.f,a.data(),k,0.f,c.data(),n);break; // a is n x k
          case 2: cblas_ssyrk(CblasRowMajor,CblasLower,CblasTrans,n,k,1.f,a.data(),n,0.f,c.data(),n);break;
          case 3: cblas_ssyrk(CblasRowMajor,CblasLower,CblasNoTrans,n,k,1.f,a.data(),k,0.f,c.data(),n);break;
          case 4: cblas_sgemm(CblasRowMajor,CblasTrans,CblasNoTrans,n,n,k,1.f,a.data(),n,a.data(),n,0.f,c.data(),n);break;
          case 5: cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasTrans,n,n,k,1.f,a.data(),k,a.data(),k,0.f,c.data(),n);break;
        }
      }
      double dt=now()-t0; if(dt<best)best=dt;
    }
    double fl=(variant<4? (double)n*(n+1):2.0*n*n)*k*reps;
    printf("variant %d: %.2f ms for %d calls, %.1f GFLOP/s useful(syrk-equiv %.1f)\n",variant,best*1e3,reps,fl/best/1e9,(double)n*(n+1)*k*reps/best/1e9);
  }
}
