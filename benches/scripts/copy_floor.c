// How fast one core here writes a 64 KiB message: glibc memcpy, `rep movsb`, AVX2 and
// AVX-512 loops, streaming (non-temporal) stores, and memset, each from one 64 KiB source
// into destinations that cycle through 128 KiB to 2 MiB (a ring's data area). Best of 7
// runs of 20 000 copies, ns a copy. BENCHMARKS.md's "sixteenth run" cites it.
//
//   gcc -O2 -mavx512f -o /tmp/copy_floor benches/scripts/copy_floor.c && /tmp/copy_floor
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <immintrin.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
#define N 65536
static void avx512(char*d,const char*s,size_t n){for(size_t i=0;i<n;i+=256){__m512i a=_mm512_loadu_si512(s+i),b=_mm512_loadu_si512(s+i+64),c=_mm512_loadu_si512(s+i+128),e=_mm512_loadu_si512(s+i+192);_mm512_store_si512(d+i,a);_mm512_store_si512(d+i+64,b);_mm512_store_si512(d+i+128,c);_mm512_store_si512(d+i+192,e);}}
static void avx2(char*d,const char*s,size_t n){for(size_t i=0;i<n;i+=128){__m256i a=_mm256_loadu_si256((void*)(s+i)),b=_mm256_loadu_si256((void*)(s+i+32)),c=_mm256_loadu_si256((void*)(s+i+64)),e=_mm256_loadu_si256((void*)(s+i+96));_mm256_store_si256((void*)(d+i),a);_mm256_store_si256((void*)(d+i+32),b);_mm256_store_si256((void*)(d+i+64),c);_mm256_store_si256((void*)(d+i+96),e);}}
static void nt(char*d,const char*s,size_t n){for(size_t i=0;i<n;i+=128){__m512i a=_mm512_loadu_si512(s+i),b=_mm512_loadu_si512(s+i+64);_mm512_stream_si512((void*)(d+i),a);_mm512_stream_si512((void*)(d+i+64),b);}_mm_sfence();}
static void rep(char*d,const char*s,size_t n){asm volatile("rep movsb":"+D"(d),"+S"(s),"+c"(n)::"memory");}
static void gm(char*d,const char*s,size_t n){memcpy(d,s,n);}
static void ms(char*d,const char*s,size_t n){memset(d,1,n);}
int main(){
  char*src=aligned_alloc(4096,N+4096)+2048; memset(src,7,N);
  char*ring=aligned_alloc(4096,16<<20); memset(ring,0,16<<20);
  struct{const char*n;void(*f)(char*,const char*,size_t);}fs[]={{"memcpy",gm},{"rep",rep},{"avx2",avx2},{"avx512",avx512},{"nt",nt},{"memset",ms}};
  size_t spans[]={128<<10,256<<10,512<<10,1<<20,2<<20};
  for(int r=0;r<3;r++)
  for(int k=0;k<5;k++){printf("span %5zuK:",spans[k]>>10);
   for(int j=0;j<6;j++){double best=1e18;for(int t=0;t<7;t++){size_t off=0;int it=20000;double a=now();for(int i=0;i<it;i++){fs[j].f(ring+off,src,N);off+=N;if(off>=spans[k])off=0;}double b=(now()-a)/it;if(b<best)best=b;}printf(" %s %.0f",fs[j].n,best);}
   printf("\n");}
}
