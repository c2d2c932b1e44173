# Makes tests/references/regression_mixtures.json: reference fits of mixtures of
# regressions and GLMs for tests/test_regression_mixture.py (CI needs no R).
#   * mixtools 2.0.0 regmixEM on NOdata (y = Equivalence, x = NO), K = 2, from fixed
#     starting values, until the log-likelihood stops increasing (epsilon = 0; a
#     negative epsilon makes regmixEM restart from random values once converged).
#   * flexmix 2.3-18 on NPreg from the true classes as the starting partition, run
#     far past convergence (tolerance 0): Gaussian yn ~ x + x^2 (flexmix's variance
#     is degrees-of-freedom corrected: not the ML fixed point, kept to document the
#     difference), Poisson yp ~ x (FLXMRglm), and Poisson
#     experts with a multinomial-logit concomitant gate on x (FLXPmultinom); a binomial
#     (logistic) mixture on simulated data from its true classes.
#   * mixtools regmixEM for yn ~ x + x^2 started at flexmix's solution: the ML fixed
#     point near it.
# Run from the repository root:  Rscript tests/references/regression_mixtures.R
suppressMessages({library(mixtools); library(flexmix)})
source(file.path("tests", "references", "json_writer.R"))
out <- list(source = paste("mixtools", packageVersion("mixtools"), "/ flexmix",
                           packageVersion("flexmix")))

data("NOdata", package = "mixtools")
start <- list(lambda = c(0.4, 0.6), beta = cbind(c(0.6, 0.05), c(1.1, -0.05)),
              sigma = c(0.1, 0.1))
fit <- regmixEM(y = NOdata$Equivalence, x = NOdata$NO, lambda = start$lambda,
                beta = start$beta, sigma = start$sigma, k = 2, epsilon = 0, maxit = 5000)
out$nodata <- list(x = NOdata$NO, y = NOdata$Equivalence, start = start,
                   loglik = fit$loglik, lambda = fit$lambda, beta = t(fit$beta),
                   sigma = fit$sigma, iterations = length(fit$all.loglik) - 1)

data("NPreg", package = "flexmix")
control <- list(tolerance = 0, iter.max = 3000, minprior = 0)
gauss <- flexmix(yn ~ x + I(x^2), data = NPreg, k = 2, cluster = NPreg$class,
                 control = control)
coefs <- function(m) t(sapply(m@components, function(c) c[[1]]@parameters$coef))
sigmas <- sapply(gauss@components, function(c) c[[1]]@parameters$sigma)
ml <- regmixEM(y = NPreg$yn, x = cbind(NPreg$x, NPreg$x^2), lambda = gauss@prior,
               beta = t(coefs(gauss)), sigma = sigmas, k = 2, epsilon = 0, maxit = 3000)
out$npreg <- list(x = NPreg$x, yn = NPreg$yn, yp = NPreg$yp, yb = NPreg$yb,
                  class = as.integer(NPreg$class))
out$flexmix_gaussian <- list(loglik = as.numeric(logLik(gauss)), prior = gauss@prior,
                             coef = coefs(gauss), sigma = sigmas)
out$mixtools_gaussian <- list(loglik = ml$loglik, lambda = ml$lambda, beta = t(ml$beta),
                              sigma = ml$sigma)
pois <- flexmix(yp ~ x, data = NPreg, k = 2, cluster = NPreg$class, control = control,
                model = FLXMRglm(family = "poisson"))
out$flexmix_poisson <- list(loglik = as.numeric(logLik(pois)), prior = pois@prior,
                            coef = coefs(pois))
# binomial: NPreg's yb drives flexmix to a separated (infinite-coefficient) component,
# so the reference is a simulated two-regime logistic data set (kept in the fixture)
set.seed(7)
xb <- runif(1000, 0, 10)
zb <- rbinom(1000, 1, 0.4) + 1
yb <- rbinom(1000, 1, plogis(ifelse(zb == 1, -4 + xb, 3 - 0.8 * xb)))
bin <- flexmix(cbind(yb, 1 - yb) ~ xb, data = data.frame(xb = xb, yb = yb), k = 2,
               cluster = zb, control = control, model = FLXMRglm(family = "binomial"))
out$flexmix_binomial <- list(x = xb, y = yb, class = as.integer(zb),
                             loglik = as.numeric(logLik(bin)), prior = bin@prior,
                             coef = coefs(bin))
gate <- flexmix(yp ~ x, data = NPreg, k = 2, cluster = NPreg$class, control = control,
                model = FLXMRglm(family = "poisson"), concomitant = FLXPmultinom(~ x))
out$flexmix_poisson_gate <- list(loglik = as.numeric(logLik(gate)),
                                 coef = coefs(gate),
                                 gate = t(parameters(gate, which = "concomitant")))
write_json(out, file.path("tests", "references", "regression_mixtures.json"))
